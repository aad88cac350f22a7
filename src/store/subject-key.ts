/**
 * How erasure finds a subject's rows: through a btree index on a 64-bit hash of the pseudonym
 * (`hashtextextended`, the function PostgreSQL's hash partitioning stores its bounds with, so it
 * does not change across versions). A subject has many rows and the btree keeps them as one
 * posting list; its 8-byte key costs an insert about half of what the 67-character pseudonym
 * itself does (docs/benchmarks.md). The lookup then compares the pseudonyms themselves, so a
 * hash collision never matches another subject's rows.
 */

/** A metrics store dimension as text: how its index and the erasure's lookup both write it. */
export const dimensionText = (dimension: string): string => `(dimensions->>'${dimension}')`;

/** A BI table column (`quoted`, a quoted identifier) as text: how its index and the erasure's lookup both write it. */
export const columnText = (quoted: string): string => `${quoted}::text`;

/** The indexed expression for a text expression `expr` holding a pseudonym. */
export const subjectKey = (expr: string): string => `hashtextextended(${expr}, 0)`;

/**
 * A condition true when `expr` is one of the pseudonyms in `param` (a JSON array of strings,
 * passed as text). The hashes are an array, not a subquery, so the index is searched for them
 * (`= ANY`) whatever the planner thinks of the table's size, and never joined against.
 */
export const subjectIn = (expr: string, param: string): string =>
  `(${subjectKey(expr)} = any(array(select ${subjectKey('p')} from json_array_elements_text(${param}::text::json) p)) and ${expr} = any(array(select json_array_elements_text(${param}::text::json))))`;
