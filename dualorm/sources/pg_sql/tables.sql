-- Tables and their columns for the whole database: one row per column. Rows are not
-- ordered: sorting them here spills to disk on large catalogs, the loader sorts them.
-- A table without columns gives one row whose column fields are NULL.
-- The session's own temporary schema (pg_temp_N) is reported as 'pg_temp' when requested.
-- Parameters: schemas (text[]), temp (boolean: include the session's temporary schema).
SELECT
    c.oid AS table_oid,
    CASE WHEN c.relnamespace = pg_my_temp_schema() THEN 'pg_temp' ELSE n.nspname::text END
        AS schema_name,
    c.relname::text AS table_name,
    td.description AS table_comment,
    coalesce(a.attnum, 0) AS column_number,
    a.attname::text AS column_name,
    format_type(a.atttypid, a.atttypmod) AS column_type,
    a.attnotnull AS not_null,
    -- A generated column's expression is not a default.
    CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END AS column_default,
    a.attidentity::text AS identity,
    cd.description AS column_comment,
    CASE WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid) END AS generated,
    -- A collation other than the type's own (100 is the database default collation): its
    -- name, or "schema"."name" (quoted) outside pg_catalog.
    CASE WHEN a.attcollation NOT IN (0, 100) THEN (
        SELECT CASE WHEN co.collnamespace = 'pg_catalog'::regnamespace THEN co.collname::text
                    ELSE quote_ident(co.collnamespace::regnamespace::text) || '.'
                         || quote_ident(co.collname::text) END
        FROM pg_collation co WHERE co.oid = a.attcollation
    ) END AS collation
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
LEFT JOIN pg_description td
    ON td.objoid = c.oid AND td.classoid = 'pg_class'::regclass AND td.objsubid = 0
LEFT JOIN pg_description cd
    ON cd.objoid = c.oid AND cd.classoid = 'pg_class'::regclass AND cd.objsubid = a.attnum
WHERE c.relkind IN ('r', 'p')
    AND (n.nspname::text = ANY (%(schemas)s::text[])
         OR (%(temp)s AND c.relnamespace = pg_my_temp_schema()))
    AND n.nspname NOT IN ('dualorm', 'pg_catalog', 'information_schema', 'pg_toast')
    AND c.relname NOT IN ('alembic_version', 'django_migrations')
