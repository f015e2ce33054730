export { escapeHtml } from '../core/html.ts';
