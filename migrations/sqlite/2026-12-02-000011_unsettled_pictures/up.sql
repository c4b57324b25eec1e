-- Stored pictures that may be named by no user's row: an upload in progress (or cut off by a
-- crash between storing the object and naming it), a replaced or deleted account's picture
-- not yet removed. The sweeper removes each one past settle_after that no row names.
CREATE TABLE unsettled_pictures (
    name TEXT PRIMARY KEY NOT NULL,
    settle_after TIMESTAMP NOT NULL
);
CREATE INDEX unsettled_pictures_settle_after ON unsettled_pictures (settle_after);
