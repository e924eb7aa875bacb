// Who is calling: the admin, an app (by API key) or one of an app's users (by user token).
export type Principal =
  | { kind: 'admin' }
  | { kind: 'app'; appId: string }
  | {
      kind: 'user';
      appId: string;
      userId: string;
      /** When the token that authenticated it expires (ms); a realtime session ends then (4401). */
      expiresAt?: number;
    };

export type AppPrincipal = Extract<Principal, { kind: 'app' }>;
export type UserPrincipal = Extract<Principal, { kind: 'user' }>;
/** An app acting for itself, or one of its users. */
export type Actor = AppPrincipal | UserPrincipal;
