"""Task builders: the data and loss of each experiment family, as library code.

A builder takes its experiment's config section and returns a `research.train.task.Task` (plus what
the experiment reports about it), so entry scripts stay leaves: two experiments that share a task
import it from here, never from each other. `arrays.array_task` builds the Task of any experiment
whose examples are in-memory arrays.
"""
