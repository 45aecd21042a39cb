package dev.workflows.worker;

/** A function served by the worker: typed input in, output (any JSON-able value) out. */
@FunctionalInterface
public interface StepFunction<I, O> {
  O apply(I input, StepContext context) throws Exception;
}
