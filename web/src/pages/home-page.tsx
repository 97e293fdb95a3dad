// `/`: recommended live channels (with the reason for each), live channels sorted by viewers, the
// categories row with box art, search (channels and live titles), and, for signed-in viewers, the
// channels they follow.
import { type FormEvent, useEffect, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { api, readApi } from '../api/client.ts';
import { useApi } from '../api/use-api.ts';
import { useAuth } from '../auth/auth-context.tsx';
import { RecommendedStreams } from '../components/discovery.tsx';
import { formatCount } from '../components/format.ts';
import { ErrorMessage, LoadingMessage } from '../components/status-message.tsx';
import { StreamGrid } from '../components/stream-card.tsx';

export function HomePage() {
  const [params, setParams] = useSearchParams();
  const query = params.get('q') ?? '';
  const [draft, setDraft] = useState(query);
  useEffect(() => setDraft(query), [query]);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const q = draft.trim();
    setParams(q === '' ? {} : { q });
  };

  return (
    <div className="home">
      <FollowingRail />
      <div className="home-main">
        <search className="home-search">
          <form onSubmit={submit}>
            <label className="visually-hidden" htmlFor="home-search-input">
              Search channels and live titles
            </label>
            <input
              id="home-search-input"
              type="search"
              placeholder="Search channels and live titles"
              value={draft}
              onChange={(event) => setDraft(event.target.value)}
            />
            <button type="submit" className="button-primary">
              Search
            </button>
          </form>
        </search>
        {query === '' ? <LiveNow /> : <SearchResults query={query} />}
      </div>
    </div>
  );
}

function LiveNow() {
  const streams = useApi('/streams', (options) =>
    readApi(api.streams.$get({ query: { sort: 'viewers_desc', limit: '24' } }, options)),
  );
  const categories = useApi('/categories', (options) => readApi(api.categories.$get({}, options)));
  const categoryList = categories.data?.data ?? [];
  return (
    <>
      <RecommendedStreams />
      <section aria-labelledby="categories-heading">
        <h2 id="categories-heading">Categories</h2>
        {categoryList.length > 0 ? (
          <ul className="category-row">
            {categoryList.map((category) => (
              <li key={category.slug}>
                <Link to={`/directory/${encodeURIComponent(category.slug)}`} className="category-chip">
                  {category.box_art_url ? (
                    <img className="box-art" src={category.box_art_url} alt="" loading="lazy" />
                  ) : null}
                  <span>{category.name}</span>
                  {category.live_viewers ? (
                    <span className="category-viewers">{formatCount(category.live_viewers)} viewers</span>
                  ) : null}
                </Link>
              </li>
            ))}
          </ul>
        ) : categories.loading ? null : (
          <p className="empty">No categories yet.</p>
        )}
      </section>
      <section aria-labelledby="live-heading">
        <h1 id="live-heading">Live now</h1>
        {streams.loading && !streams.data ? <LoadingMessage /> : null}
        {streams.error ? <ErrorMessage error={streams.error} /> : null}
        {streams.data ? (
          <StreamGrid streams={streams.data.data} empty="Nobody is live right now. Be the first: go live!" />
        ) : null}
      </section>
    </>
  );
}

function SearchResults({ query }: { query: string }) {
  const results = useApi(`/search?q=${query}`, (options) =>
    readApi(api.search.$get({ query: { q: query } }, options)),
  );
  return (
    <section aria-labelledby="search-heading">
      <h1 id="search-heading">Results for “{query}”</h1>
      {results.loading ? <LoadingMessage label="Searching…" /> : null}
      {results.error ? <ErrorMessage error={results.error} /> : null}
      {results.data ? (
        <>
          <h2>Channels</h2>
          {results.data.channels.length === 0 ? (
            <p className="empty">No channels match.</p>
          ) : (
            <ul className="channel-list">
              {results.data.channels.map((channel) => (
                <li key={channel.id}>
                  <Link to={`/${channel.name}`} className="channel-link">
                    {channel.display_name ?? channel.name}
                    {channel.is_live ? <span className="live-dot">LIVE</span> : null}
                  </Link>
                </li>
              ))}
            </ul>
          )}
          <h2>Live streams</h2>
          <StreamGrid streams={results.data.streams} empty="No live stream titles match." />
        </>
      ) : null}
    </section>
  );
}

function FollowingRail() {
  const { user } = useAuth();
  const follows = useApi(user ? '/users/me/follows' : null, (options) =>
    readApi(api.users.me.follows.$get({}, options)),
  );
  if (!user) return null;
  const channels = (follows.data?.data ?? []).map((item) => item.channel);
  return (
    <aside className="following-rail" aria-labelledby="following-heading">
      <h2 id="following-heading">Following</h2>
      {channels.length === 0 ? (
        <p className="empty">{follows.loading ? 'Loading…' : 'Channels you follow show up here.'}</p>
      ) : (
        <ul>
          {channels.map((channel) => (
            <li key={channel.id}>
              <Link to={`/${channel.name}`}>
                <span className={channel.is_live ? 'presence live' : 'presence'} aria-hidden="true" />
                {channel.display_name ?? channel.name}
                <span className="visually-hidden">{channel.is_live ? ' (live)' : ' (offline)'}</span>
              </Link>
            </li>
          ))}
        </ul>
      )}
    </aside>
  );
}
