// Lints Cypher statements with Neo4j's own parser (@neo4j-cypher/language-support), offline.
// stdin: a JSON list of statements, each a string or {"name": ..., "query": ...}.
// stdout: a JSON list of {"name", "diagnostics": [{"severity", "message", "line", "character"}]}
// (severity 1 = error, 2 = warning). Exit code 1 when any statement has an error.
// Statements are checked as Cypher 5 (Neo4j 5, and the default language of later servers);
// CYPHER_LINT_VERSIONS="CYPHER 5,CYPHER 25" checks more (each costs ~0.25 s a statement).
import { lintCypherQuery } from '@neo4j-cypher/language-support';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const statements = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const versions = (process.env.CYPHER_LINT_VERSIONS ?? 'CYPHER 5').split(',').map((v) => v.trim());
let failed = false;
const report = statements.map((item, index) => {
  const { name, query } = typeof item === 'string' ? { name: `#${index}`, query: item } : item;
  // Declare every $parameter the statement uses: values arrive at run time, so "parameter
  // not defined" would only be noise.
  const parameters = {};
  for (const match of query.matchAll(/\$([A-Za-z_][A-Za-z0-9_]*)/g)) parameters[match[1]] = null;
  const found = [];
  for (const version of versions) {
    const { diagnostics } = lintCypherQuery(query, { parameters, defaultLanguage: version });
    for (const d of diagnostics) {
      found.push({
        severity: d.severity,
        message: `[${version}] ${d.message}`,
        line: d.range.start.line + 1,
        character: d.range.start.character + 1,
      });
    }
  }
  if (found.some((d) => d.severity === 1)) failed = true;
  return { name, diagnostics: found };
});

process.stdout.write(JSON.stringify(report, null, 2) + '\n');
process.exitCode = failed ? 1 : 0;
