-- Standalone sequences (CREATE SEQUENCE) of the requested schemas: those no column owns.
-- A serial's sequence is OWNED BY its column (pg_depend deptype 'a') and an identity's is
-- internal to it (deptype 'i'): both belong to the column, not here. Sequences an extension
-- owns (deptype 'e') are the extension's.
-- Parameters: schemas (text[]), temp (boolean: include the session's temporary schema).
SELECT
    CASE WHEN c.relnamespace = pg_my_temp_schema() THEN 'pg_temp' ELSE n.nspname::text END
        AS schema_name,
    c.relname::text AS name,
    format_type(s.seqtypid, NULL) AS data_type,
    s.seqincrement AS increment,
    s.seqstart AS start
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_sequence s ON s.seqrelid = c.oid
WHERE c.relkind = 'S'
    AND (n.nspname::text = ANY (%(schemas)s::text[])
         OR (%(temp)s AND c.relnamespace = pg_my_temp_schema()))
    AND n.nspname NOT IN ('dualorm', 'pg_catalog', 'information_schema', 'pg_toast')
    AND NOT EXISTS (
        SELECT 1 FROM pg_depend d
        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
            AND d.deptype IN ('a', 'i', 'e')
    )
