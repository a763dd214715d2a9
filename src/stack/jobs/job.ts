/** Background work the supervisor runs next to the servers, each with its own start and stop. */
export interface Job {
  readonly name: string;
  /** Begin; a job that has nothing to do under the configuration returns at once. */
  start(): Promise<void> | void;
  /** End, waiting for work in progress; called once, also after a failed start of a later step. */
  stop(): Promise<void> | void;
}
