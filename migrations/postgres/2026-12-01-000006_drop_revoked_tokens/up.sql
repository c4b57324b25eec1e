-- Every access token names its session (`sid`), and logout ends the session: the denylist of
-- single tokens served only tokens from before sessions, which expired long ago.
DROP TABLE revoked_tokens;
