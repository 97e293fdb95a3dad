// `/directory/{category}`: the live streams of one category, most watched first.
import { useParams } from 'react-router';
import { api, readApi } from '../api/client.ts';
import { useApi } from '../api/use-api.ts';
import { ErrorMessage, LoadingMessage } from '../components/status-message.tsx';
import { StreamGrid } from '../components/stream-card.tsx';

export function DirectoryPage() {
  const slug = useParams().category ?? '';
  const category = useApi(`/categories/${slug}`, (options) =>
    readApi(api.categories[':slug'].$get({ param: { slug: encodeURIComponent(slug) } }, options)),
  );
  const streams = useApi(`/streams?category=${slug}`, (options) =>
    readApi(api.streams.$get({ query: { category: slug, sort: 'viewers_desc', limit: '48' } }, options)),
  );
  return (
    <section aria-labelledby="directory-heading">
      <h1 id="directory-heading">{category.data?.name ?? slug}</h1>
      {streams.loading && !streams.data ? <LoadingMessage /> : null}
      {streams.error ? <ErrorMessage error={streams.error} /> : null}
      {streams.data ? (
        <StreamGrid streams={streams.data.data} empty="No one is live in this category." />
      ) : null}
    </section>
  );
}
