// The web app's entry: client-side routes (react-router data mode), the session provider, and the
// one stylesheet. The dashboard, account settings and the chat overlay are separate chunks, loaded
// only when opened.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createBrowserRouter, RouterProvider } from 'react-router';
import { AuthProvider } from './auth/auth-context.tsx';
import { AppLayout } from './components/app-layout.tsx';
import { AuthPage } from './pages/auth-page.tsx';
import { ClipPage } from './pages/clip-page.tsx';
import { DirectoryPage } from './pages/directory-page.tsx';
import { HomePage } from './pages/home-page.tsx';
import { NotFoundPage } from './pages/not-found-page.tsx';
import { VodPage } from './pages/vod-page.tsx';
import { WatchPage } from './pages/watch-page.tsx';
import './styles.css';

const router = createBrowserRouter([
  // OBS browser sources get the bare chat: no header, transparent background.
  // Lazy like the watch page's chat, so the chat code stays out of the first bundle.
  {
    path: '/overlay/chat/:channel',
    lazy: async () => ({ Component: (await import('./pages/overlay-chat-page.tsx')).OverlayChatPage }),
  },
  // The poll and prediction overlay for OBS (docs/engagement.md).
  {
    path: '/overlay/engagement/:channel',
    lazy: async () => ({
      Component: (await import('./pages/overlay-engagement-page.tsx')).OverlayEngagementPage,
    }),
  },
  // The alerts overlay (subs, cheers, tips, raids) for the same OBS setup (docs/payments.md).
  {
    path: '/overlay/alerts/:channel',
    lazy: async () => ({ Component: (await import('./pages/overlay-alerts-page.tsx')).OverlayAlertsPage }),
  },
  {
    Component: AppLayout,
    children: [
      { index: true, Component: HomePage },
      { path: 'directory/:category', Component: DirectoryPage },
      {
        path: 'dashboard',
        lazy: async () => ({ Component: (await import('./pages/dashboard-page.tsx')).DashboardPage }),
      },
      {
        path: 'dashboard/go-live',
        lazy: async () => ({ Component: (await import('./pages/go-live-page.tsx')).GoLivePage }),
      },
      {
        path: 'settings',
        lazy: async () => ({ Component: (await import('./pages/settings-page.tsx')).SettingsPage }),
      },
      {
        path: 'settings/developer',
        lazy: async () => ({
          Component: (await import('./pages/developer-apps-page.tsx')).DeveloperAppsPage,
        }),
      },
      {
        path: 'oauth2/authorize',
        lazy: async () => ({ Component: (await import('./pages/oauth-consent-page.tsx')).OAuthConsentPage }),
      },
      {
        path: 'activate',
        lazy: async () => ({ Component: (await import('./pages/activate-page.tsx')).ActivatePage }),
      },
      { path: 'login', element: <AuthPage mode="login" /> },
      { path: 'signup', element: <AuthPage mode="signup" /> },
      { path: 'videos/:vodId', Component: VodPage },
      { path: 'clip/:clipId', Component: ClipPage },
      { path: ':channel', Component: WatchPage },
      { path: '*', Component: NotFoundPage },
    ],
  },
]);

const root = document.getElementById('root');
if (root === null) throw new Error('index.html lost its #root element');
createRoot(root).render(
  <StrictMode>
    <AuthProvider>
      <RouterProvider router={router} />
    </AuthProvider>
  </StrictMode>,
);
