// Who is signed in. The token lives in localStorage and goes out as `Authorization: Bearer`; on
// load it is checked once with GET /users/me so a revoked token signs the viewer out.
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { ApiRequestError, api, readApi, readToken, writeToken } from '../api/client.ts';
import type { Channel, Session, User } from '../api/types.ts';

type AuthState = {
  user: User | null;
  channel: Channel | null;
  ready: boolean;
  signUp: (username: string, password: string) => Promise<void>;
  logIn: (username: string, password: string) => Promise<void>;
  logOut: () => Promise<void>;
  endSession: () => void;
};

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<User | null>(null);
  const [channel, setChannel] = useState<Channel | null>(null);
  const [ready, setReady] = useState(readToken() === null);

  useEffect(() => {
    if (readToken() === null) return;
    readApi(api.users.me.$get()).then(
      (me) => {
        setUser(me.user);
        setChannel(me.channel);
        setReady(true);
      },
      (error: unknown) => {
        if (error instanceof ApiRequestError && error.status === 401) writeToken(null);
        setReady(true);
      },
    );
  }, []);

  const startSession = useCallback((session: Session) => {
    writeToken(session.token);
    setUser(session.user);
    setChannel(session.channel);
  }, []);

  const signUp = useCallback(
    async (username: string, password: string) =>
      startSession(await readApi(api.auth.signup.$post({ json: { username, password } }))),
    [startSession],
  );
  const logIn = useCallback(
    async (username: string, password: string) =>
      startSession(await readApi(api.auth.login.$post({ json: { username, password } }))),
    [startSession],
  );
  /** Forgets the session here (after logging out, out everywhere, or a password change). */
  const endSession = useCallback(() => {
    writeToken(null);
    setUser(null);
    setChannel(null);
  }, []);
  const logOut = useCallback(async () => {
    try {
      await readApi(api.auth.logout.$post());
    } finally {
      // The local session ends even when the server cannot be told: the viewer asked to leave.
      endSession();
    }
  }, [endSession]);

  const value = useMemo(
    () => ({ user, channel, ready, signUp, logIn, logOut, endSession }),
    [user, channel, ready, signUp, logIn, logOut, endSession],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const state = useContext(AuthContext);
  if (state === null) throw new Error('useAuth needs an AuthProvider above it');
  return state;
}
