-- tsarchive-grants.sql: the least privilege each tsarchive service needs in PostgreSQL,
-- for one database and one schema of archived tables. Run as the database owner (or an
-- administrator, not necessarily a superuser) with psql, once per schema:
--
--   psql -d metrics -v db=metrics -v schema=public -v owner=metrics_owner \
--        -v retention=tsarchive_retention -v archiver=tsarchive_archiver \
--        -f tsarchive-grants.sql
--
-- The login roles exist already (CREATE ROLE ... LOGIN with a password, or on Azure
-- Database for PostgreSQL with Microsoft Entra ID: pgaadauth_create_principal). owner is
-- the role that owns the hypertables or partitioned tables and their chunks or partitions
-- (give them a NOLOGIN owner role of their own; see docs/deploy-azure.md). Neither service
-- is a superuser, and neither needs to be.
\set ON_ERROR_STOP on

-- both: connect
GRANT CONNECT ON DATABASE :"db" TO :"retention", :"archiver";

-- retention: its state lives in the schema tsarchive, made here for it (so it needs no
-- CREATE on the database: it creates the schema itself only when it is missing)
CREATE SCHEMA IF NOT EXISTS tsarchive AUTHORIZATION :"retention";
-- retention: LOCK, prove unchanged (SELECT) and DROP a chunk. PostgreSQL lets only the
-- owner drop a table, so the retention role is a member of the owning role (and gets
-- nothing the owner does not have)
GRANT :"owner" TO :"retention";
GRANT USAGE ON SCHEMA :"schema" TO :"retention";

-- archiver: read the tables and every chunk or partition, now and later (COPY reads the
-- chunk itself, whose privileges are its own: a partition does not inherit its parent's)
GRANT USAGE ON SCHEMA :"schema" TO :"archiver";
GRANT SELECT ON ALL TABLES IN SCHEMA :"schema" TO :"archiver";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA :"schema" GRANT SELECT ON TABLES TO :"archiver";
