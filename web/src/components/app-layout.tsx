// The chrome around every page but the OBS overlay: brand, browse/dashboard/settings links, search,
// notifications bell, account menu.
import { type FormEvent, useState } from 'react';
import { Link, NavLink, Outlet, useNavigate } from 'react-router';
import { useAuth } from '../auth/auth-context.tsx';
import { NotificationBell } from './notification-bell.tsx';

export function AppLayout() {
  const { user, logOut } = useAuth();
  const navigate = useNavigate();
  const [query, setQuery] = useState('');

  const search = (event: FormEvent) => {
    event.preventDefault();
    const q = query.trim();
    void navigate(q === '' ? '/' : `/?q=${encodeURIComponent(q)}`);
  };

  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="top-bar">
        <Link to="/" className="brand" aria-label="edgestream home">
          edge<span>stream</span>
        </Link>
        <nav aria-label="Main">
          <NavLink to="/" end>
            Browse
          </NavLink>
          {user ? <NavLink to="/dashboard">Dashboard</NavLink> : null}
          {user ? <NavLink to="/settings">Settings</NavLink> : null}
        </nav>
        <search className="top-search">
          <form onSubmit={search}>
            <label className="visually-hidden" htmlFor="top-search-input">
              Search channels and streams
            </label>
            <input
              id="top-search-input"
              type="search"
              placeholder="Search"
              value={query}
              onChange={(event) => setQuery(event.target.value)}
            />
          </form>
        </search>
        <div className="account">
          {user ? (
            <>
              <NotificationBell />
              <Link to={`/${user.username}`} className="account-name">
                {user.username}
              </Link>
              <button
                type="button"
                className="button-secondary"
                onClick={() => {
                  logOut().then(
                    () => navigate('/'),
                    () => navigate('/'),
                  );
                }}
              >
                Log out
              </button>
            </>
          ) : (
            <>
              <Link to="/login" className="button-secondary">
                Log in
              </Link>
              <Link to="/signup" className="button-primary">
                Sign up
              </Link>
            </>
          )}
        </div>
      </header>
      <main id="main" className="main">
        <Outlet />
      </main>
    </div>
  );
}
