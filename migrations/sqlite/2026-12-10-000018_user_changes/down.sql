DROP TABLE user_changes;
