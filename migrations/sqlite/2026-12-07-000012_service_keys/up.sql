-- Keys the service makes for itself and every replica shares, kept beside the data they protect.
-- `refresh_successor` derives a spent refresh token's successor: it must not change when the
-- signing key rotates, or two replicas mid-rotation would hand one replayed token two successors.
CREATE TABLE service_keys (
    name TEXT PRIMARY KEY NOT NULL,
    secret TEXT NOT NULL
);
