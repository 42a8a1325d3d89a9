-- Message-IDs a threaded email refers to that we have not received yet:
-- when such a message arrives late (mail is not delivered in order), it
-- joins the case its reply already went to instead of opening another.
CREATE TABLE mail_awaited_parents (
    message_id TEXT NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (message_id, case_id)
);
