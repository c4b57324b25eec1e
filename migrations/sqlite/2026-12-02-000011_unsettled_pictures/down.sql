DROP TABLE unsettled_pictures;
