// Reads the Parquet sink's files under a directory with DuckDB and prints
// what the e2e test compares with the search API, as JSON.
import { DuckDBInstance } from '@duckdb/node-api';

const dir = process.argv[2];
const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
const src = `read_parquet('${dir}/**/*.parquet', hive_partitioning = true)`;
const rows = async (sql) => (await con.runAndReadAll(sql)).getRowObjectsJson();
const out = {
  byPrincipalAction: await rows(`SELECT principal, action, event_source, count(*) AS n FROM ${src} GROUP BY ALL ORDER BY ALL`),
  ids: (await rows(`SELECT id FROM ${src} ORDER BY seq`)).map((r) => r.id),
  types: (await rows(`SELECT typeof(event_time) AS event_time, typeof(status_code) AS status_code,
      typeof(metadata) AS metadata, typeof(read_only) AS read_only, typeof(dt) AS dt FROM ${src} LIMIT 1`))[0],
  badPartitions: (await rows(`SELECT count(*) AS n FROM ${src} WHERE strftime(event_time AT TIME ZONE 'UTC', '%Y-%m-%d') <> CAST(dt AS VARCHAR)`))[0].n,
};
console.log(JSON.stringify(out));
