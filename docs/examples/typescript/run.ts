// Runs the client against a server: node dist/run.js <base URL> <tenant>
// <email> <password>; prints the invoice it drafted, issued and read back.
import { draftAndIssue, ProblemError, signIn } from "./client.js";

const [baseUrl, tenant, email, password] = process.argv.slice(2);
if (!baseUrl || !tenant || !email || !password) {
  console.error("usage: node dist/run.js <base URL> <tenant> <email> <password>");
  process.exit(2);
}
try {
  const api = await signIn(baseUrl, tenant, email, password);
  const invoice = await draftAndIssue(api, "Northwind", 250_000);
  console.log(JSON.stringify({ id: invoice.id, status: invoice.status, total: invoice.total }));
} catch (e) {
  console.error(e instanceof ProblemError ? `problem ${e.problem.code}: ${e.message}` : e);
  process.exit(1);
}
