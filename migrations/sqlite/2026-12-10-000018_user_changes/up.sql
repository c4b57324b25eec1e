-- Users whose row changed or whose session ended, written on SQLite by the change's transaction
-- (any process's: the CLI's too), read by the service every 100 ms to drop them from its
-- session cache, and pruned after a minute. PostgreSQL tells its replicas by NOTIFY instead.
CREATE TABLE user_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL,
    changed_at TIMESTAMP NOT NULL
);
