// The signed-in user's own view of the server: who it is, and the settings a client needs to behave well
// (the recall window, so a page offers "recall" only while the server would accept it).
import { Type } from '@sinclair/typebox';
import type { Services } from '../../services.js';
import type { TypedApp } from '../server.js';
import { bearer, errors } from '../schemas.js';

export function registerMeRoutes(app: TypedApp, s: Services): void {
  app.get(
    '/v1/me',
    {
      schema: {
        summary: 'The caller (a user token) and the client-facing settings',
        security: bearer,
        response: {
          200: Type.Object({
            userId: Type.String(),
            appId: Type.String(),
            displayName: Type.Union([Type.String(), Type.Null()]),
            recallWindowSeconds: Type.Integer({ description: '0: no limit' }),
          }),
          ...errors(401, 403, 404),
        },
      },
    },
    async (request) => {
      const user = await s.auth.user(request);
      const profile = await s.apps.getUser(user.appId, user.userId);
      return {
        userId: user.userId,
        appId: user.appId,
        displayName: profile.displayName,
        recallWindowSeconds: s.config.recallWindowSeconds,
      };
    },
  );
}
