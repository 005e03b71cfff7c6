// commstrat-journal: `migrate-timelines` converts a journal written by commstrat 0.1
// (status events kept beside the messages) into documents that hold their own status
// and timeline (see migrate-timelines.ts). Reads COMMSTRAT_MONGO_URL. Safe to repeat.
import { MongoClient } from 'mongodb';
import { Journal } from './journal.ts';
import { migrateTimelines } from './migrate-timelines.ts';

const [command] = process.argv.slice(2);
const url = process.env['COMMSTRAT_MONGO_URL'];
if (command !== 'migrate-timelines') {
  console.error('usage: node packages/journal/src/cli.ts migrate-timelines');
  process.exit(2);
}
if (url === undefined) {
  console.error('COMMSTRAT_MONGO_URL is not set: export the journal\'s MongoDB URL (locally: eval "$(scripts/stack env)").');
  process.exit(2);
}
const client = new MongoClient(url, { serverSelectionTimeoutMS: 5000 });
try {
  await client.connect();
  const db = client.db();
  // The indexes the converted journal is read through, before the reads need them.
  await new Journal(db).ensureIndexes();
  let last = 0;
  const result = await migrateTimelines(db, {
    progress: (done, total) => {
      if (done - last < 10_000 && done < total) return;
      last = done;
      console.log(`journal: ${done} of about ${total} messages read`);
    },
  });
  console.log(`journal: converted; ${result.changed} of ${result.messages} messages took events kept beside them`);
} catch (error) {
  console.error(`journal: ${error instanceof Error ? error.message : String(error)}; nothing is lost: run the command again`);
  process.exitCode = 1;
} finally {
  await client.close();
}
