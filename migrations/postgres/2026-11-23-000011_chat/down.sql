DROP TABLE chat_read_markers;
DROP TABLE chat_tickets;
