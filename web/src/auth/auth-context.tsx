// Who is signed in. The token lives in localStorage and goes out as `Authorization: Bearer`; on
// load it is checked once with GET /users/me so a revoked token signs the viewer out.
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { ApiRequestError, readToken, requestApi, writeToken } from '../api/client.ts';
import { type Channel, EmptySchema, MeSchema, SessionSchema, type User } from '../api/schemas.ts';

type AuthState = {
  user: User | null;
  channel: Channel | null;
  ready: boolean;
  signUp: (username: string, password: string) => Promise<void>;
  logIn: (username: string, password: string) => Promise<void>;
  logOut: () => Promise<void>;
};

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<User | null>(null);
  const [channel, setChannel] = useState<Channel | null>(null);
  const [ready, setReady] = useState(readToken() === null);

  useEffect(() => {
    if (readToken() === null) return;
    requestApi('/users/me', MeSchema).then(
      (me) => {
        if ('user' in me) {
          setUser(me.user);
          setChannel(me.channel ?? null);
        } else {
          setUser(me);
        }
        setReady(true);
      },
      (error: unknown) => {
        if (error instanceof ApiRequestError && error.status === 401) writeToken(null);
        setReady(true);
      },
    );
  }, []);

  const startSession = useCallback(async (path: string, username: string, password: string) => {
    const session = await requestApi(path, SessionSchema, { method: 'POST', body: { username, password } });
    writeToken(session.token);
    setUser(session.user);
    setChannel(session.channel ?? null);
  }, []);

  const signUp = useCallback((u: string, p: string) => startSession('/auth/signup', u, p), [startSession]);
  const logIn = useCallback((u: string, p: string) => startSession('/auth/login', u, p), [startSession]);
  const logOut = useCallback(async () => {
    try {
      await requestApi('/auth/logout', EmptySchema, { method: 'POST' });
    } finally {
      // The local session ends even when the server cannot be told: the viewer asked to leave.
      writeToken(null);
      setUser(null);
      setChannel(null);
    }
  }, []);

  const value = useMemo(
    () => ({ user, channel, ready, signUp, logIn, logOut }),
    [user, channel, ready, signUp, logIn, logOut],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const state = useContext(AuthContext);
  if (state === null) throw new Error('useAuth needs an AuthProvider above it');
  return state;
}
