// A typed client of Atrium's API, as an SPA team writes one: the types
// come from GET /openapi.json (`npm run generate` writes atrium.d.ts),
// the calls from openapi-fetch. A path, a body field or an answer that
// does not match the description is a compile error.
import createClient from "openapi-fetch";
import type { components, paths } from "./atrium.js";

export type Problem = components["schemas"]["Problem"];
export type Invoice = paths["/api/v1/invoices/{id}"]["get"]["responses"][200]["content"]["application/json"];

/** A problem+json answer, kept whole. */
export class ProblemError extends Error {
  constructor(readonly problem: Problem) {
    super(`${problem.status} ${problem.code}: ${problem.detail ?? problem.title}`);
  }
}

/** The API for one tenant's member, signed in with an email and password. */
export async function signIn(baseUrl: string, tenant: string, email: string, password: string) {
  const anonymous = createClient<paths>({ baseUrl, headers: { "X-Tenant": tenant } });
  const { data, error } = await anonymous.POST("/api/v1/auth/login", { body: { email, password } });
  if (error) throw new ProblemError(error);
  return createClient<paths>({ baseUrl, headers: { "X-Tenant": tenant, Authorization: `Bearer ${data.access_token}` } });
}

export type API = Awaited<ReturnType<typeof signIn>>;

/** Drafts an invoice and issues it; reads it back once the read models have its position. */
export async function draftAndIssue(api: API, clientName: string, amount: number): Promise<Invoice> {
  const drafted = await api.POST("/api/v1/invoices", {
    body: {
      client: { id: "C-" + clientName, name: clientName },
      currency: "EUR",
      due_date: "2026-10-01",
      lines: [{ description: "Consulting", quantity: 1, unit_price: { amount, currency: "EUR" } }],
    },
    headers: { "Idempotency-Key": `draft-${clientName}-${amount}` },
  });
  if (drafted.error) throw new ProblemError(drafted.error);
  const { id } = drafted.data;
  const issued = await api.POST("/api/v1/invoices/{id}/issue", { params: { path: { id } } });
  if (issued.error) throw new ProblemError(issued.error);
  const read = await api.GET("/api/v1/invoices/{id}", {
    params: { path: { id }, header: { "X-Read-After": String(issued.data.position) } },
  });
  if (read.error) throw new ProblemError(read.error);
  return read.data;
}

// What the types refuse: checked by the compiler (each line must be an
// error, or the build fails).
export function refused(api: API) {
  // @ts-expect-error: no such route
  void api.GET("/api/v1/nowhere");
  // @ts-expect-error: a quantity is a number
  void api.POST("/api/v1/invoices", { body: { lines: [{ description: "x", quantity: "three" }] } });
  // @ts-expect-error: an invoice has no such field
  const wrong = (i: Invoice) => i.no_such_field;
  return wrong;
}
