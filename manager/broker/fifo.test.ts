import assert from "node:assert/strict";
import { test } from "node:test";
import { Fifo } from "./fifo.ts";

test("the fifo keeps order across compaction and unshift", () => {
  const q = new Fifo<number>();
  const model: number[] = [];
  let next = 0;
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 100 + round * 7; i++) {
      q.push(next);
      model.push(next++);
    }
    for (let i = 0; i < 90 + round * 5; i++) assert.equal(q.shift(), model.shift());
    if (round % 10 === 0) {
      const back = [-round - 1, -round - 2];
      q.unshift(back);
      model.unshift(...back);
    }
    assert.equal(q.length, model.length);
  }
  while (model.length > 0) assert.equal(q.shift(), model.shift());
  assert.equal(q.shift(), undefined);
  q.push(1);
  q.clear();
  assert.equal(q.length, 0);
});
