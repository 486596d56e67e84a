-- Indexes that are not the index of a primary key, unique or exclusion constraint (those
-- are reported as the constraint). A key is the column name as stored (unquoted) for a
-- plain column, else the expression as pg_get_indexdef prints it; the INCLUDE columns follow,
-- then each key's ordering (indoption: bit 1 DESC, bit 2 NULLS FIRST) as the server prints it,
-- then each key's operator class, '' where it is the default for the key's type and method.
-- Parameters: schemas (text[]), temp (boolean: include the session's temporary schema).
SELECT
    x.indrelid AS table_oid,
    i.relname::text AS name,
    ARRAY(
        SELECT CASE
            WHEN k.attnum = 0 THEN pg_get_indexdef(x.indexrelid, k.n::integer, true)
            ELSE a.attname::text
        END
        -- unnest rather than generate_series: its row estimate keeps the plan cheap enough
        -- that PostgreSQL does not spend longer JIT-compiling it than running it.
        FROM unnest(x.indkey::smallint[]) WITH ORDINALITY AS k (attnum, n)
        LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
        WHERE k.n <= x.indnkeyatts
        ORDER BY k.n
    ) AS columns,
    ARRAY(
        SELECT a.attname::text
        FROM unnest(x.indkey::smallint[]) WITH ORDINALITY AS k (attnum, n)
        JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
        WHERE k.n > x.indnkeyatts
        ORDER BY k.n
    ) AS include,
    ARRAY(
        SELECT concat_ws(
            ' ',
            CASE WHEN x.indoption[k.n - 1] & 1 = 1 THEN 'DESC' END,
            CASE x.indoption[k.n - 1] & 3
                WHEN 1 THEN 'NULLS LAST'
                WHEN 2 THEN 'NULLS FIRST'
            END
        )
        FROM generate_series(1, x.indnkeyatts) AS k (n)
        ORDER BY k.n
    ) AS orders,
    ARRAY(
        SELECT CASE WHEN oc.opcdefault THEN '' ELSE oc.opcname::text END
        FROM generate_series(1, x.indnkeyatts) AS k (n)
        JOIN pg_opclass oc ON oc.oid = x.indclass[k.n - 1]
        ORDER BY k.n
    ) AS opclasses,
    x.indisunique AS is_unique,
    pg_get_expr(x.indpred, x.indrelid) AS predicate,
    am.amname::text AS method,
    x.indisvalid AS valid
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_am am ON am.oid = i.relam
JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
    AND (n.nspname::text = ANY (%(schemas)s::text[])
         OR (%(temp)s AND c.relnamespace = pg_my_temp_schema()))
    AND n.nspname NOT IN ('dualorm', 'pg_catalog', 'information_schema', 'pg_toast')
    AND c.relname NOT IN ('alembic_version', 'django_migrations')
    AND NOT EXISTS (
        SELECT 1
        FROM pg_constraint con
        WHERE con.conrelid = x.indrelid
            AND con.conindid = x.indexrelid
            AND con.contype IN ('p', 'u', 'x')
    )
