DROP TABLE mail_awaited_parents;
