-- The API shows timestamps to the millisecond, so each change moves updated_at forward by at least
-- one millisecond: two changes never show the same updated_at, even within one millisecond or when
-- the clock steps back.
CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := greatest(date_trunc('milliseconds', clock_timestamp()), OLD.updated_at + interval '1 millisecond');
  RETURN NEW;
END;
$$;
