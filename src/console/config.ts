/**
 * The `console` configuration section: the web console served at `/` by the API process, and the
 * public OpenID Connect client it signs people in with (authorization code flow with PKCE).
 */
import { z } from 'zod'

export const consoleConfigSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Serve the web console at `/` (its assets are built by `npm install` / `npm run build` into web/dist).'),
    sourceMaps: z
      .boolean()
      .default(false)
      .describe('Serve the console\'s source maps (/assets/*.map). The build writes them without a reference in the scripts; off, they answer 404, so production does not publish the console\'s source.'),
    oidc: z
      .object({
        clientId: z
          .string()
          .min(1)
          .max(200)
          .describe(
            'The client id of the console at your identity provider: a public client (no secret) with PKCE, redirect URI `<server.publicUrl>/auth/callback`, and access tokens for `auth.oidc.audience`.',
          ),
        scopes: z
          .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'a scope token'))
          .default(['openid', 'profile', 'email'])
          .describe('Scopes the console asks for; `openid` is always added. Add the scope your provider needs to put Tenure\'s audience and the roles claim in access tokens.'),
      })
      .strict()
      .optional()
      .describe('Single sign-on in the console. Needs `auth.oidc` too (which verifies the tokens). Unset: the console signs in with API tokens only.'),
  })
  .strict()

export type ConsoleConfig = z.output<typeof consoleConfigSchema>
