import { Link } from 'react-router';

export function NotFoundPage() {
  return (
    <section className="not-found">
      <h1>Page not found</h1>
      <Link to="/">Browse live channels</Link>
    </section>
  );
}
