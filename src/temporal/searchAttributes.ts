import type { OperatorService } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { bosunSearchAttributes } from '../shared/searchAttributes';

/** Registers Bosun's custom search attributes on the namespace; a no-op when they already exist. */
export async function ensureSearchAttributes(
  connection: { operatorService: OperatorService },
  namespace: string,
): Promise<void> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = bosunSearchAttributes.filter((key) => !customAttributes?.[key.name]);
  if (missing.length === 0) return;
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(
      missing.map((key) => [key.name, temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]),
    ),
  });
}
