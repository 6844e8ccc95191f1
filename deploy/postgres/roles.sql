-- The two roles of a service's database (ADR 0057): `bilet_migrator` owns the schemas and runs
-- `bvb migrate` (the <service>-migrate Job); `bilet_app`, the services' processes, reads and
-- writes rows and holds no DDL right. Run once per service database, as its owner, before the
-- first migration (CloudNativePG: `spec.managed.roles` declares both roles, with their password
-- Secrets, and this file goes to `bootstrap.initdb.postInitApplicationSQLRefs`); the services
-- then run with BVB_SCHEMA=verify. Role names: replace them if yours differ.
--
-- Not for the key store's database (`BVB_KEY_STORE_URL`, schema bvb_keys): an erasure VACUUMs
-- the key tables, which only their owner may, so the key store's role owns them and makes them
-- as it opens.

-- The migrator may create schemas in this database; nobody else may create anything.
DO $$
BEGIN
    EXECUTE format('REVOKE CREATE ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT, CREATE ON DATABASE %I TO bilet_migrator', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO bilet_app', current_database());
END
$$;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- Whatever the migrator makes from now on, the application may use (rows only: no ownership,
-- so no ALTER, DROP, TRUNCATE or CREATE in the schemas).
ALTER DEFAULT PRIVILEGES FOR ROLE bilet_migrator GRANT USAGE ON SCHEMAS TO bilet_app;
ALTER DEFAULT PRIVILEGES FOR ROLE bilet_migrator
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO bilet_app;
ALTER DEFAULT PRIVILEGES FOR ROLE bilet_migrator GRANT USAGE, SELECT ON SEQUENCES TO bilet_app;
ALTER DEFAULT PRIVILEGES FOR ROLE bilet_migrator GRANT EXECUTE ON FUNCTIONS TO bilet_app;
