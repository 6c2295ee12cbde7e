-- The tables of the seed's TimescaleDB example template (etc/emqx_backend_timescale.tmpl).
-- Import into the database backend.timescale.<pool>.database names:
--   psql tutorial -f sql/timescale.sql
-- Where the timescaledb extension is installed they become hypertables;
-- on plain PostgreSQL they are ordinary tables, which cistern writes the same way.

CREATE TABLE IF NOT EXISTS sensor_data (
  time        TIMESTAMPTZ       NOT NULL,
  location    TEXT              NOT NULL,
  temperature DOUBLE PRECISION  NULL,
  humidity    DOUBLE PRECISION  NULL
);

CREATE TABLE IF NOT EXISTS easy_data (
  time TIMESTAMPTZ NOT NULL,
  data TEXT        NOT NULL
);

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
    CREATE EXTENSION IF NOT EXISTS timescaledb;
    PERFORM create_hypertable('sensor_data', 'time', if_not_exists => TRUE);
    PERFORM create_hypertable('easy_data', 'time', if_not_exists => TRUE);
  END IF;
END
$$;
