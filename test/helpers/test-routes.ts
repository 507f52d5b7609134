/**
 * Sample routes with varied roles, for tests of the registry machinery and of the role matrix
 * while few real capabilities exist. Never mounted by src/main.ts.
 */
import type { RequestHandler } from 'express'
import { z } from 'zod'
import { setPrincipal } from '../../src/auth/authenticate.ts'
import { unauthorized } from '../../src/auth/errors.ts'
import { hrSourcePrincipal } from '../../src/auth/roles.ts'
import { notFound } from '../../src/http/errors.ts'
import { defineRoute, reply, type RouteDefinition } from '../../src/http/routes.ts'

const id = z.object({ id: z.uuid() })

export const SAMPLE_ROUTES: readonly RouteDefinition[] = [
  defineRoute({
    method: 'get',
    path: '/api/v1/samples/ping',
    summary: 'Public sample',
    tags: ['samples'],
    roles: 'public',
    responses: { 200: { description: 'pong', schema: z.object({ pong: z.literal(true), caller: z.string().nullable() }) } },
    handler: async ({ principal }) => ({ pong: true as const, caller: principal ? `${principal.kind}:${principal.id}` : null }),
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/samples/reports',
    summary: 'Auditor sample',
    tags: ['samples'],
    roles: ['auditor'],
    responses: { 200: { description: 'reports', schema: z.object({ reports: z.array(z.string()) }) } },
    handler: async () => ({ reports: ['q1'] }),
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/samples/employees/:id',
    summary: 'Operator and auditor sample',
    tags: ['samples'],
    roles: ['operator', 'auditor'],
    request: { params: id },
    responses: {
      200: { description: 'an employee', schema: z.object({ id: z.uuid() }) },
      404: { description: 'no such employee' },
    },
    handler: async ({ params }) => {
      throw notFound(`employee ${params.id}`)
    },
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/samples/exceptions/:id/decision',
    summary: 'Approver sample',
    tags: ['samples'],
    roles: ['approver'],
    request: { params: id, body: z.object({ decision: z.enum(['approve', 'reject']), reason: z.string().min(1) }) },
    responses: { 200: { description: 'decided', schema: z.object({ id: z.uuid(), decision: z.string() }) } },
    handler: async ({ params, body }) => ({ id: params.id, decision: body.decision }),
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/samples/jobs/:id/retry',
    summary: 'Operator sample without body',
    tags: ['samples'],
    roles: ['operator'],
    request: { params: id },
    responses: { 202: { description: 'queued', schema: z.object({ queued: z.boolean() }) } },
    handler: async () => ({ queued: true }),
  }),
  defineRoute({
    method: 'delete',
    path: '/api/v1/samples/cases/:id',
    summary: 'Operator sample answering 204',
    tags: ['samples'],
    roles: ['operator'],
    request: { params: id },
    responses: { 204: { description: 'gone' } },
    handler: async () => undefined,
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/samples/settings',
    summary: 'Admin-only sample',
    tags: ['samples'],
    roles: ['admin'],
    responses: { 200: { description: 'settings', schema: z.object({ ok: z.boolean() }) } },
    handler: async () => reply(200, { ok: true }, { 'X-Sample': 'yes' }),
  }),
  defineRoute({
    method: 'post',
    path: '/webhooks/samples/:source',
    summary: 'HR source sample (signature in x-sample-signature)',
    tags: ['samples'],
    roles: 'hr_source',
    request: { params: z.object({ source: z.enum(['bamboohr', 'workday']) }) },
    authenticate: async (req) => {
      const signature = req.get('x-sample-signature')
      if (signature === undefined) return null
      if (signature !== 'valid') throw unauthorized('invalid_signature', 'the webhook signature does not verify')
      return hrSourcePrincipal(String(req.params.source))
    },
    responses: { 202: { description: 'accepted', schema: z.object({ source: z.string() }) } },
    handler: async ({ principal }) => ({ source: principal.id }),
  }),
]

/**
 * Stands in for an upstream check (the lead's webhook signature middleware) that establishes an
 * HR source principal before the API sees the request: header `x-test-hr-source: <source>`.
 */
export const sampleUpstream: RequestHandler = (req, _res, next) => {
  const source = req.get('x-test-hr-source')
  if (source) setPrincipal(req, hrSourcePrincipal(source))
  next()
}
