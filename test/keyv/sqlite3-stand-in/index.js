throw new Error('sqlite3 is not installed here: this package stands in for it (see package.json "overrides")');
