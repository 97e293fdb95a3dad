// Reading one window of a VOD's chat replay through all its pages. GET /vods/{id}/chat answers at
// most one page of a busy window and says where the rest starts (`next_from`, seconds); the caller
// follows it to the window's end, at most `maxPages` requests (a window still continuing is picked
// up from `loadedTo` on the next load). Pure (the request is passed in), so it is tested in Node.

export interface ReplayPage<M> {
  messages: M[];
  next_from: number | null;
}

export async function collectReplayWindow<M>(
  from: number,
  to: number,
  fetchPage: (from: number, to: number) => Promise<ReplayPage<M>>,
  maxPages: number,
): Promise<{ messages: M[]; loadedTo: number }> {
  const messages: M[] = [];
  let cursor = from;
  for (let page = 0; page < maxPages; page++) {
    const answer = await fetchPage(cursor, to);
    messages.push(...answer.messages);
    // A next_from that does not move forward would loop: the window is treated as done.
    if (answer.next_from === null || answer.next_from >= to || answer.next_from <= cursor)
      return { messages, loadedTo: to };
    cursor = answer.next_from;
  }
  return { messages, loadedTo: cursor };
}
