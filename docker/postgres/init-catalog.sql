-- Runs once, when the postgres volume is first initialised (docker-entrypoint-initdb.d).
-- The ledger lives in the database `dativo` (POSTGRES_DB); the Iceberg SQL catalog gets its own.
CREATE DATABASE iceberg_catalog;
