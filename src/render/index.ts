import type { ServiceName } from '../config/schema.js';
import type { RenderContext, RenderedFile } from './context.js';
import { renderMonitoring } from './monitoring.js';
import { renderNats } from './nats.js';
import { renderPostgres } from './postgres.js';
import { renderRedis } from './redis.js';

export type { RenderContext, RenderedFile } from './context.js';

export const renderers: Record<ServiceName, (ctx: RenderContext) => RenderedFile[]> = {
  postgres: renderPostgres,
  redis: renderRedis,
  nats: renderNats,
};

/** Native config files for every enabled server. */
export function renderAll(ctx: RenderContext): RenderedFile[] {
  return (Object.keys(renderers) as ServiceName[])
    .filter((s) => ctx.config[s].enabled)
    .flatMap((s) => renderers[s](ctx))
    .concat(renderMonitoring(ctx));
}
