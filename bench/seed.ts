/**
 * The benchmark schema and its data, generated inside PostgreSQL with
 * `generate_series` so seeding takes seconds.
 */
import pg from "pg"
import * as PostgresServer from "../src/testing/PostgresServer.js"
import { withClient } from "./db.js"

export const schemaSql = `
create table users (id integer primary key, name text not null, email text not null unique, created_at timestamptz not null default now());
create table messages (id uuid primary key default gen_random_uuid(), user_id integer not null references users(id), role text not null check (role in ('system','user','assistant')), content text not null, content_length integer not null, created_at timestamptz not null default now(), deleted_at timestamptz);
create index messages_user_recent on messages (user_id, deleted_at, created_at desc);
create table accounts (id integer primary key, balance bigint not null);
`

export interface SeedSize {
  readonly users: number
  readonly messagesPerUser: number
  /** How many of each user's messages are soft-deleted. */
  readonly deletedPerUser: number
  readonly accounts: number
}

export const benchSize: SeedSize = { users: 10_000, messagesPerUser: 20, deletedPerUser: 2, accounts: 1_000 }

export const smallSize: SeedSize = { users: 50, messagesPerUser: 20, deletedPerUser: 2, accounts: 20 }

export const INITIAL_BALANCE = 1_000_000

/**
 * Every seeded row is older than this, and every row the benchmark writes
 * (with `default now()`) is newer, which is how {@link resetWrites} tells them
 * apart.
 */
const SEED_EPOCH = "2025-01-01T00:00:00Z"

/** Which of a user's messages (numbered from 1, oldest first) are soft-deleted: spread evenly. */
const deletedPositions = ({ deletedPerUser, messagesPerUser }: SeedSize): Array<number> =>
  Array.from({ length: deletedPerUser }, (_, i) => Math.floor(((i + 1) * messagesPerUser) / deletedPerUser))

/** Creates the schema and the seed data, then vacuums and analyzes. */
export const seed = (url: string, size: SeedSize): Promise<void> =>
  withClient(url, async (client) => {
    await client.query(schemaSql)
    await client.query(
      `insert into users (id, name, email, created_at)
       select u, 'User ' || u, 'user' || u || '@example.com', $2::timestamptz - interval '1 year' + u * interval '1 minute'
       from generate_series(1, $1::int) u`,
      [size.users, SEED_EPOCH]
    )
    // Rows go in in time order with all users' conversations interleaved, as
    // a chat's would, so one user's messages are spread over many pages.
    // Every message of a user has a distinct created_at, which keeps
    // "newest first" a total order.
    await client.query(
      `insert into messages (user_id, role, content, content_length, created_at, deleted_at)
       select u, role, content, length(content), created_at,
              case when n = any($4::int[]) then created_at + interval '1 hour' end
       from generate_series(1, $3::int) n
       cross join generate_series(1, $1::int) u
       cross join lateral (select
         case when n = 1 then 'system' when n % 2 = 0 then 'user' else 'assistant' end as role,
         left(repeat('lorem ipsum dolor sit amet, consectetur adipiscing elit. ', 8), 20 + (u * 31 + n * 17) % 380) as content,
         $2::timestamptz - (($1::int * $3::int) - ((n - 1) * $1::int + u) + 1) * interval '1 minute' as created_at
       ) m
       order by n, u`,
      [size.users, SEED_EPOCH, size.messagesPerUser, deletedPositions(size)]
    )
    await client.query(
      `insert into accounts (id, balance) select a, $2::bigint from generate_series(1, $1::int) a`,
      [size.accounts, INITIAL_BALANCE]
    )
    await client.query("vacuum analyze")
  })

/**
 * A new database on the server, with `synchronous_commit = off` so writes
 * measure the client and the server rather than the disk, seeded with `size`.
 */
export const createSeededDatabase = async (
  serverUrl: string,
  size: SeedSize
): Promise<{ readonly url: string; readonly drop: () => Promise<void> }> => {
  const name = PostgresServer.uniqueName("effect_dal_bench")
  const url = await PostgresServer.createDatabase(serverUrl, name)
  const drop = () => PostgresServer.dropDatabase(serverUrl, name)
  try {
    await withClient(serverUrl, (client) =>
      client.query(`alter database ${pg.escapeIdentifier(name)} set synchronous_commit = off`))
    await seed(url, size)
  } catch (error) {
    await drop()
    throw error
  }
  return { url, drop }
}

/**
 * Removes every message the benchmark wrote and vacuums away the dead rows,
 * so the next cell starts from the seeded state. No ANALYZE: the statistics
 * of the seeded data still hold, and it would triple the time this takes.
 */
export const resetWrites = (url: string): Promise<void> =>
  withClient(url, async (client) => {
    await client.query("delete from messages where created_at >= $1", [SEED_EPOCH])
    await client.query("vacuum messages, accounts")
  })
