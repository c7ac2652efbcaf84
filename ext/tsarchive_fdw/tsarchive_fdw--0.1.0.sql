/* tsarchive_fdw--0.1.0.sql */
\echo Use "CREATE EXTENSION tsarchive_fdw" to load this file. \quit

CREATE FUNCTION tsarchive_fdw_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FUNCTION tsarchive_fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER tsarchive_fdw
  HANDLER tsarchive_fdw_handler
  VALIDATOR tsarchive_fdw_validator;

-- Sets a secret in the current user's mapping for a server (creating the mapping):
-- the value travels as a parameter, never in a statement's text.
CREATE FUNCTION tsarchive_fdw_set_secret(server name, option text, value text)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;
