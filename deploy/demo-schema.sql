-- An IGDB-like schema for the demo: a few entity tables with real-looking columns.
-- hookstream captures INSERTs and UPDATEs on them through logical decoding (pgoutput).

CREATE TABLE IF NOT EXISTS companies (
    id          bigint PRIMARY KEY,
    name        text NOT NULL,
    country     int,
    description text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS platforms (
    id           bigint PRIMARY KEY,
    name         text NOT NULL,
    abbreviation text,
    generation   int,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS games (
    id                 bigint PRIMARY KEY,
    name               text NOT NULL,
    summary            text,
    rating             numeric(5, 2),
    first_release_date timestamptz,
    platforms          bigint[] NOT NULL DEFAULT '{}',
    involved_companies bigint[] NOT NULL DEFAULT '{}',
    tags               jsonb NOT NULL DEFAULT '{}',
    updated_at         timestamptz NOT NULL DEFAULT now()
);

INSERT INTO companies (id, name, country, description) VALUES
    (908, 'CD Projekt RED', 616, 'Polish developer of The Witcher series.'),
    (1, 'Electronic Arts', 840, NULL)
ON CONFLICT (id) DO NOTHING;

INSERT INTO platforms (id, name, abbreviation, generation) VALUES
    (6, 'PC (Microsoft Windows)', 'PC', NULL),
    (48, 'PlayStation 4', 'PS4', 8),
    (49, 'Xbox One', 'XONE', 8)
ON CONFLICT (id) DO NOTHING;

INSERT INTO games (id, name, summary, rating, first_release_date, platforms, involved_companies, tags) VALUES
    (1942, 'The Witcher 3', 'RPG and sequel to The Witcher 2.', 92.40, '2015-05-19 00:00:00+00',
     '{6,48,49}', '{908}', '{"themes": [1, 17]}')
ON CONFLICT (id) DO NOTHING;
