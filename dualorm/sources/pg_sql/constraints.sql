-- Primary key, unique, check and foreign key constraints for the whole database.
-- Column lists keep the constraint's own order; check expressions are pg_get_expr's text
-- (without the CHECK keyword); actions are pg_constraint's one-letter codes.
-- Parameters: schemas (text[]), temp (boolean: include the session's temporary schema).
SELECT
    con.conrelid AS table_oid,
    con.conname::text AS name,
    con.contype::text AS kind,
    ARRAY(
        SELECT a.attname::text
        FROM unnest(con.conkey) WITH ORDINALITY AS k (attnum, ord)
        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
        ORDER BY k.ord
    ) AS columns,
    CASE WHEN con.contype = 'c' THEN pg_get_expr(con.conbin, con.conrelid) END AS expression,
    CASE WHEN rc.relnamespace = pg_my_temp_schema() THEN 'pg_temp' ELSE rn.nspname::text END
        AS ref_schema,
    rc.relname::text AS ref_table,
    ARRAY(
        SELECT a.attname::text
        FROM unnest(con.confkey) WITH ORDINALITY AS k (attnum, ord)
        JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
        ORDER BY k.ord
    ) AS ref_columns,
    con.confupdtype::text AS on_update,
    con.confdeltype::text AS on_delete,
    con.condeferrable AS deferrable,
    con.condeferred AS initially_deferred,
    con.convalidated AS validated
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.contype IN ('p', 'u', 'c', 'f')
    AND c.relkind IN ('r', 'p')
    AND (n.nspname::text = ANY (%(schemas)s::text[])
         OR (%(temp)s AND c.relnamespace = pg_my_temp_schema()))
    AND n.nspname NOT IN ('dualorm', 'pg_catalog', 'information_schema', 'pg_toast')
    AND c.relname NOT IN ('alembic_version', 'django_migrations')
