import assert from "node:assert/strict";
import { test } from "node:test";
import { isTopicId } from "../core/topics.ts";
import { newId } from "./ids.ts";

test("ids are 25 base32 characters, usable as topic levels, and distinct", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const id = newId();
    assert.match(id, /^[a-z2-7]{25}$/);
    assert.ok(isTopicId(id));
    seen.add(id);
  }
  assert.equal(seen.size, 2000);
});
