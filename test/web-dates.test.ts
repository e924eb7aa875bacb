// How the page writes times: today's by the clock, yesterday's as "Yesterday", the week's by weekday, older
// ones by date; a day separator wherever the local day changes.
import { describe, expect, it } from 'vitest';
import { dayLabel, listTime, sameDay, timeOfDay } from '../web/src/dates.js';

const at = (y: number, m: number, d: number, h = 12, min = 0) => new Date(y, m - 1, d, h, min).toISOString();
const now = new Date(2026, 11, 1, 15, 30).getTime();

describe('page times', () => {
  it('labels days relative to today', () => {
    expect(dayLabel(at(2026, 12, 1, 0, 5), now)).toBe('Today');
    expect(dayLabel(at(2026, 11, 30, 23, 59), now)).toBe('Yesterday');
    expect(dayLabel(at(2026, 11, 20), now)).toContain('20');
    expect(dayLabel(at(2025, 11, 20), now)).toContain('2025');
  });

  it("the list shows today's time, then Yesterday, the weekday, or the date", () => {
    expect(listTime(at(2026, 12, 1, 9, 15), now)).toBe(timeOfDay(at(2026, 12, 1, 9, 15)));
    expect(listTime(at(2026, 11, 30), now)).toBe('Yesterday');
    expect(listTime(at(2026, 11, 27), now)).toBe(
      new Date(at(2026, 11, 27)).toLocaleDateString([], { weekday: 'short' }),
    );
    expect(listTime(at(2026, 10, 2), now)).toMatch(/\d/);
  });

  it('two times share a day when their local dates agree', () => {
    expect(sameDay(at(2026, 12, 1, 0, 1), at(2026, 12, 1, 23, 59))).toBe(true);
    expect(sameDay(at(2026, 11, 30, 23, 59), at(2026, 12, 1, 0, 1))).toBe(false);
  });
});
