// `/directory/{category}`: the live streams of one category, most watched first, with its box art
// and tag chips: the tags of the streams shown, one of which filters the list (`?tag=`, validated
// and bounded by the API).
import { Link, useParams, useSearchParams } from 'react-router';
import { MAX_TAG_LENGTH } from '../../../protocol/limits.ts';
import { api, readApi } from '../api/client.ts';
import { useApi } from '../api/use-api.ts';
import { ErrorMessage, LoadingMessage } from '../components/status-message.tsx';
import { StreamGrid } from '../components/stream-card.tsx';

/** Chips shown: the most used tags of the streams listed. */
const TAG_CHIPS = 12;

export function DirectoryPage() {
  const slug = useParams().category ?? '';
  const [params] = useSearchParams();
  const rawTag = params.get('tag')?.trim() ?? '';
  const tag = rawTag.length > 0 && rawTag.length <= MAX_TAG_LENGTH ? rawTag : null;
  const category = useApi(`/categories/${slug}`, (options) =>
    readApi(api.categories[':slug'].$get({ param: { slug: encodeURIComponent(slug) } }, options)),
  );
  const streams = useApi(`/streams?category=${slug}&tag=${tag ?? ''}`, (options) =>
    readApi(
      api.streams.$get(
        { query: { category: slug, sort: 'viewers_desc', limit: '48', ...(tag === null ? {} : { tag }) } },
        options,
      ),
    ),
  );
  // The chips come from the unfiltered list, so the other tags stay offered while one is chosen.
  const unfiltered = useApi(tag === null ? null : `/streams?category=${slug}`, (options) =>
    readApi(api.streams.$get({ query: { category: slug, sort: 'viewers_desc', limit: '48' } }, options)),
  );
  const chipSource = tag === null ? streams.data?.data : unfiltered.data?.data;
  const counts = new Map<string, { label: string; n: number }>();
  for (const stream of chipSource ?? []) {
    for (const t of stream.tags) {
      const entry = counts.get(t.toLowerCase()) ?? { label: t, n: 0 };
      entry.n += 1;
      counts.set(t.toLowerCase(), entry);
    }
  }
  const chips = [...counts.values()]
    .sort((a, b) => b.n - a.n || a.label.localeCompare(b.label))
    .slice(0, TAG_CHIPS);
  const base = `/directory/${encodeURIComponent(slug)}`;
  return (
    <section aria-labelledby="directory-heading">
      <header className="directory-header">
        {category.data?.box_art_url ? (
          <img className="box-art box-art-large" src={category.data.box_art_url} alt="" />
        ) : null}
        <h1 id="directory-heading">{category.data?.name ?? slug}</h1>
      </header>
      {chips.length > 0 || tag !== null ? (
        <nav className="tag-chips" aria-label="Filter by tag">
          <ul>
            {tag !== null ? (
              <li>
                <Link to={base} className="tag-chip active" aria-current="true">
                  {tag} ×<span className="visually-hidden"> (clear the tag filter)</span>
                </Link>
              </li>
            ) : null}
            {chips
              .filter((chip) => chip.label.toLowerCase() !== tag?.toLowerCase())
              .map((chip) => (
                <li key={chip.label}>
                  <Link to={`${base}?tag=${encodeURIComponent(chip.label)}`} className="tag-chip">
                    {chip.label}
                  </Link>
                </li>
              ))}
          </ul>
        </nav>
      ) : null}
      {streams.loading && !streams.data ? <LoadingMessage /> : null}
      {streams.error ? <ErrorMessage error={streams.error} /> : null}
      {streams.data ? (
        <StreamGrid
          streams={streams.data.data}
          empty={
            tag === null
              ? 'No one is live in this category.'
              : `No one is live in this category with the tag ${tag}.`
          }
        />
      ) : null}
    </section>
  );
}
