-- Enum types (CREATE TYPE ... AS ENUM) of the requested schemas with their labels in sort
-- order (enumsortorder: ALTER TYPE ... ADD VALUE BEFORE/AFTER places a label between two).
-- Types an extension owns are the extension's, not the application's.
-- Parameters: schemas (text[]), temp (boolean: include the session's temporary schema).
SELECT
    CASE WHEN t.typnamespace = pg_my_temp_schema() THEN 'pg_temp' ELSE n.nspname::text END
        AS schema_name,
    t.typname::text AS name,
    ARRAY(
        SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder
    ) AS labels
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype = 'e'
    AND (n.nspname::text = ANY (%(schemas)s::text[])
         OR (%(temp)s AND t.typnamespace = pg_my_temp_schema()))
    AND n.nspname NOT IN ('dualorm', 'pg_catalog', 'information_schema', 'pg_toast')
    AND NOT EXISTS (
        SELECT 1 FROM pg_depend d
        WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e'
    )
