/** The OpenAPI 3.1 document of the admin API, generated from the route table's zod schemas. */
import { z } from 'zod';
import { ADMIN_ROUTES, API_PREFIX, errorSchema, type AdminRouteSpec } from './routes.js';
import { SESSION_COOKIE } from './auth.js';

type Json = Record<string, unknown>;

function schemaOf(schema: z.ZodType, io: 'input' | 'output'): Json {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Json;
  delete out.$schema;
  return out;
}

const ERROR_STATUSES: Record<string, string> = {
  '400': 'ADMIN_BAD_REQUEST',
  '401': 'ADMIN_UNAUTHENTICATED / ADMIN_BAD_CREDENTIALS',
  '403': 'ADMIN_CSRF (missing or wrong x-csrf-token, or a foreign Origin)',
  '404': 'ADMIN_NOT_FOUND / ADMIN_NOT_CONFIGURED',
  '409': 'ADMIN_CONFLICT',
  '429': 'ADMIN_LOGIN_RATE_LIMITED',
  '503': 'ADMIN_UNAVAILABLE',
};

export function buildOpenApi(routes: readonly AdminRouteSpec[] = ADMIN_ROUTES): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of routes) {
    const path = r.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const parameters: Json[] = [];
    if (r.params) {
      const s = schemaOf(r.params, 'input') as { properties?: Record<string, Json> };
      for (const [name, schema] of Object.entries(s.properties ?? {})) parameters.push({ name, in: 'path', required: true, schema });
    }
    if (r.query) {
      const s = schemaOf(r.query, 'input') as { properties?: Record<string, Json>; required?: string[] };
      for (const [name, schema] of Object.entries(s.properties ?? {})) parameters.push({ name, in: 'query', required: s.required?.includes(name) ?? false, schema });
    }
    const mutating = r.method !== 'GET';
    if (mutating && !r.public) parameters.push({ name: 'x-csrf-token', in: 'header', required: true, schema: { type: 'string' }, description: 'the csrfToken of the session' });
    const responses: Record<string, Json> = {
      [String(r.status)]: r.response
        ? { description: 'success', content: { 'application/json': { schema: schemaOf(r.response, 'output') } } }
        : { description: 'success (no body)' },
    };
    for (const [status, codes] of Object.entries(ERROR_STATUSES)) {
      if (status === '403' && !mutating) continue;
      if (status === '429' && !r.public) continue;
      responses[status] = { description: codes, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    }
    const op: Json = {
      operationId: r.id,
      summary: r.summary,
      tags: [r.tag],
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(r.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: schemaOf(r.body, 'input') } } } }
        : {}),
      responses,
      security: r.public ? [] : [{ session: [] }],
      ...(r.action ? { 'x-audit-action': r.action } : {}),
    };
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'wxseal gateway admin API',
      version: '1',
      description: 'See ADMIN-API.md. State-changing calls need the x-csrf-token header of the session and are written to the audit log.',
    },
    servers: [{ url: API_PREFIX }],
    paths,
    components: {
      schemas: { Error: schemaOf(errorSchema, 'output') },
      securitySchemes: { session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE } },
    },
  };
}
