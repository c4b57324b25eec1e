-- Steps done on the data by the service itself (e.g. re-normalising stored emails), once each.
CREATE TABLE data_migrations (
    name TEXT PRIMARY KEY NOT NULL,
    done_at TIMESTAMP NOT NULL
);
